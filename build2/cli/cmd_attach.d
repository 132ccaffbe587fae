build2/cli/cmd_attach.o: cli/cmd_attach.c /usr/include/cjson/cJSON.h \
 cli/cli.h engine/base/qt.h engine/daemon/client.h cli/tuiopen.h \
 tui/loop.h tui/source.h engine/model/model.h engine/base/dtype.h
/usr/include/cjson/cJSON.h:
cli/cli.h:
engine/base/qt.h:
engine/daemon/client.h:
cli/tuiopen.h:
tui/loop.h:
tui/source.h:
engine/model/model.h:
engine/base/dtype.h:
