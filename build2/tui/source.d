build2/tui/source.o: tui/source.c tui/source.h engine/model/model.h \
 engine/base/dtype.h engine/base/qt.h /usr/include/cjson/cJSON.h \
 tui/screen.h
tui/source.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
/usr/include/cjson/cJSON.h:
tui/screen.h:
