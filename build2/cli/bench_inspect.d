build2/cli/bench_inspect.o: cli/bench_inspect.c \
 /usr/include/cjson/cJSON.h engine/model/arch.h engine/model/model.h \
 engine/base/dtype.h engine/base/qt.h cli/cli.h
/usr/include/cjson/cJSON.h:
engine/model/arch.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
cli/cli.h:
