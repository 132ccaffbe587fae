build2/cli/main.o: cli/main.c /usr/include/cjson/cJSON.h \
 engine/base/unicode.h cli/cli.h engine/base/qt.h engine/backend/select.h \
 engine/base/dtype.h engine/quant/quant.h engine/quant/scheme.h
/usr/include/cjson/cJSON.h:
engine/base/unicode.h:
cli/cli.h:
engine/base/qt.h:
engine/backend/select.h:
engine/base/dtype.h:
engine/quant/quant.h:
engine/quant/scheme.h:
