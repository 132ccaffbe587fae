build2/cli/cmd_open.o: cli/cmd_open.c cli/cli.h engine/base/qt.h \
 tui/loop.h tui/source.h engine/model/model.h engine/base/dtype.h \
 tui/source.h cli/tuiopen.h
cli/cli.h:
engine/base/qt.h:
tui/loop.h:
tui/source.h:
engine/model/model.h:
engine/base/dtype.h:
tui/source.h:
cli/tuiopen.h:
