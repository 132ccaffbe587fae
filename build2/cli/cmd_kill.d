build2/cli/cmd_kill.o: cli/cmd_kill.c /usr/include/cjson/cJSON.h \
 cli/cli.h engine/base/qt.h engine/daemon/client.h
/usr/include/cjson/cJSON.h:
cli/cli.h:
engine/base/qt.h:
engine/daemon/client.h:
