build2/cli/main.o: cli/main.c /usr/include/cjson/cJSON.h cli/cli.h \
 engine/base/qt.h
/usr/include/cjson/cJSON.h:
cli/cli.h:
engine/base/qt.h:
