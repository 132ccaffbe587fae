build2/engine/daemon/daemon.o: engine/daemon/daemon.c \
 engine/daemon/daemon.h engine/base/qt.h /usr/include/cjson/cJSON.h \
 engine/daemon/daemon_ops.h engine/daemon/proto.h engine/daemon/job.h \
 engine/model/model.h engine/base/dtype.h engine/io/writer.h \
 sessions/session.h
engine/daemon/daemon.h:
engine/base/qt.h:
/usr/include/cjson/cJSON.h:
engine/daemon/daemon_ops.h:
engine/daemon/proto.h:
engine/daemon/job.h:
engine/model/model.h:
engine/base/dtype.h:
engine/io/writer.h:
sessions/session.h:
