build2/cli/bench_gptq.o: cli/bench_gptq.c /usr/include/cjson/cJSON.h \
 cli/cli.h engine/base/qt.h engine/backend/cuda/cuda.h \
 engine/base/dtype.h engine/model/model.h engine/quant/quant.h \
 engine/quant/scheme.h engine/backend/select.h
/usr/include/cjson/cJSON.h:
cli/cli.h:
engine/base/qt.h:
engine/backend/cuda/cuda.h:
engine/base/dtype.h:
engine/model/model.h:
engine/quant/quant.h:
engine/quant/scheme.h:
engine/backend/select.h:
