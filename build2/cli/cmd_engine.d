build2/cli/cmd_engine.o: cli/cmd_engine.c cli/cli.h engine/base/qt.h \
 engine/daemon/daemon.h
cli/cli.h:
engine/base/qt.h:
engine/daemon/daemon.h:
