build2/engine/model/tokenizer.o: engine/model/tokenizer.c \
 engine/model/tokenizer.h engine/base/qt.h /usr/include/cjson/cJSON.h \
 engine/base/unicode.h
engine/model/tokenizer.h:
engine/base/qt.h:
/usr/include/cjson/cJSON.h:
engine/base/unicode.h:
