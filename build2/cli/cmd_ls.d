build2/cli/cmd_ls.o: cli/cmd_ls.c /usr/include/cjson/cJSON.h cli/cli.h \
 engine/base/qt.h engine/daemon/client.h engine/daemon/proto.h \
 sessions/session.h
/usr/include/cjson/cJSON.h:
cli/cli.h:
engine/base/qt.h:
engine/daemon/client.h:
engine/daemon/proto.h:
sessions/session.h:
