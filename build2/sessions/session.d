build2/sessions/session.o: sessions/session.c sessions/session.h \
 engine/base/qt.h /usr/include/cjson/cJSON.h
sessions/session.h:
engine/base/qt.h:
/usr/include/cjson/cJSON.h:
