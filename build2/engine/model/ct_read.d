build2/engine/model/ct_read.o: engine/model/ct_read.c \
 engine/model/ct_read.h engine/model/arch.h engine/model/model.h \
 engine/base/dtype.h engine/base/qt.h /usr/include/cjson/cJSON.h \
 engine/base/hmap.h engine/model/match.h engine/quant/pack.h \
 engine/quant/scheme.h
engine/model/ct_read.h:
engine/model/arch.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
/usr/include/cjson/cJSON.h:
engine/base/hmap.h:
engine/model/match.h:
engine/quant/pack.h:
engine/quant/scheme.h:
