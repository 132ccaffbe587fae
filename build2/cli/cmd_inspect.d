build2/cli/cmd_inspect.o: cli/cmd_inspect.c /usr/include/cjson/cJSON.h \
 cli/cli.h engine/base/qt.h engine/base/format.h engine/model/model.h \
 engine/base/dtype.h engine/model/ct_read.h engine/model/arch.h
/usr/include/cjson/cJSON.h:
cli/cli.h:
engine/base/qt.h:
engine/base/format.h:
engine/model/model.h:
engine/base/dtype.h:
engine/model/ct_read.h:
engine/model/arch.h:
