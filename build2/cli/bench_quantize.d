build2/cli/bench_quantize.o: cli/bench_quantize.c \
 /usr/include/cjson/cJSON.h cli/cli.h engine/base/qt.h \
 engine/model/model.h engine/base/dtype.h engine/io/writer.h
/usr/include/cjson/cJSON.h:
cli/cli.h:
engine/base/qt.h:
engine/model/model.h:
engine/base/dtype.h:
engine/io/writer.h:
