build2/cli/cmd_bench.o: cli/cmd_bench.c /usr/include/cjson/cJSON.h \
 cli/cli.h engine/base/qt.h engine/backend/select.h engine/base/dtype.h \
 engine/quant/quant.h engine/quant/scheme.h
/usr/include/cjson/cJSON.h:
cli/cli.h:
engine/base/qt.h:
engine/backend/select.h:
engine/base/dtype.h:
engine/quant/quant.h:
engine/quant/scheme.h:
