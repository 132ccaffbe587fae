build2/engine/daemon/proto.o: engine/daemon/proto.c engine/daemon/proto.h \
 engine/base/qt.h /usr/include/cjson/cJSON.h engine/base/unicode.h
engine/daemon/proto.h:
engine/base/qt.h:
/usr/include/cjson/cJSON.h:
engine/base/unicode.h:
