build2/engine/model/arch.o: engine/model/arch.c engine/model/arch.h \
 engine/model/model.h engine/base/dtype.h engine/base/qt.h \
 /usr/include/cjson/cJSON.h
engine/model/arch.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
/usr/include/cjson/cJSON.h:
