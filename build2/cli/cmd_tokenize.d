build2/cli/cmd_tokenize.o: cli/cmd_tokenize.c /usr/include/cjson/cJSON.h \
 cli/cli.h engine/base/qt.h engine/model/tokenizer.h
/usr/include/cjson/cJSON.h:
cli/cli.h:
engine/base/qt.h:
engine/model/tokenizer.h:
