build2/cli/cmd_bench.o: cli/cmd_bench.c /usr/include/cjson/cJSON.h \
 cli/cli.h engine/base/qt.h
/usr/include/cjson/cJSON.h:
cli/cli.h:
engine/base/qt.h:
