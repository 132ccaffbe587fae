build2/engine/daemon/client.o: engine/daemon/client.c \
 engine/daemon/client.h /usr/include/cjson/cJSON.h engine/base/qt.h \
 engine/base/hmap.h engine/daemon/daemon.h engine/model/model.h \
 engine/base/dtype.h engine/daemon/proto.h sessions/session.h
engine/daemon/client.h:
/usr/include/cjson/cJSON.h:
engine/base/qt.h:
engine/base/hmap.h:
engine/daemon/daemon.h:
engine/model/model.h:
engine/base/dtype.h:
engine/daemon/proto.h:
sessions/session.h:
