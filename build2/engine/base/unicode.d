build2/engine/base/unicode.o: engine/base/unicode.c engine/base/unicode.h \
 engine/base/unicode_nfc_tables.h
engine/base/unicode.h:
engine/base/unicode_nfc_tables.h:
