build2/tui/source_daemon.o: tui/source_daemon.c \
 /usr/include/cjson/cJSON.h engine/base/hmap.h engine/daemon/client.h \
 engine/base/qt.h tui/screen.h tui/source.h engine/model/model.h \
 engine/base/dtype.h
/usr/include/cjson/cJSON.h:
engine/base/hmap.h:
engine/daemon/client.h:
engine/base/qt.h:
tui/screen.h:
tui/source.h:
engine/model/model.h:
engine/base/dtype.h:
