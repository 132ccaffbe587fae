build2/cli/bench_forward.o: cli/bench_forward.c \
 /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h \
 /usr/include/x86_64-linux-gnu/openblas-pthread/openblas_config.h \
 /usr/include/cjson/cJSON.h cli/cli.h engine/base/qt.h \
 engine/eval/forward.h engine/backend/cuda/cuda.h engine/base/dtype.h \
 engine/model/model.h engine/quant/quant.h engine/quant/scheme.h
/usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h:
/usr/include/x86_64-linux-gnu/openblas-pthread/openblas_config.h:
/usr/include/cjson/cJSON.h:
cli/cli.h:
engine/base/qt.h:
engine/eval/forward.h:
engine/backend/cuda/cuda.h:
engine/base/dtype.h:
engine/model/model.h:
engine/quant/quant.h:
engine/quant/scheme.h:
