build2/cli/cmd_engine.o: cli/cmd_engine.c cli/cli.h engine/base/qt.h \
 engine/backend/select.h engine/base/dtype.h engine/quant/quant.h \
 engine/quant/scheme.h engine/daemon/daemon.h
cli/cli.h:
engine/base/qt.h:
engine/backend/select.h:
engine/base/dtype.h:
engine/quant/quant.h:
engine/quant/scheme.h:
engine/daemon/daemon.h:
