build2/engine/daemon/daemon_ops.o: engine/daemon/daemon_ops.c \
 engine/daemon/daemon_ops.h /usr/include/cjson/cJSON.h \
 engine/daemon/daemon.h engine/base/qt.h engine/daemon/proto.h \
 engine/daemon/job.h engine/model/match.h engine/model/model.h \
 engine/base/dtype.h sessions/session.h
engine/daemon/daemon_ops.h:
/usr/include/cjson/cJSON.h:
engine/daemon/daemon.h:
engine/base/qt.h:
engine/daemon/proto.h:
engine/daemon/job.h:
engine/model/match.h:
engine/model/model.h:
engine/base/dtype.h:
sessions/session.h:
