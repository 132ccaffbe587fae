build2/engine/model/safetensors.o: engine/model/safetensors.c \
 engine/model/safetensors.h engine/base/dtype.h engine/base/qt.h \
 /usr/include/cjson/cJSON.h
engine/model/safetensors.h:
engine/base/dtype.h:
engine/base/qt.h:
/usr/include/cjson/cJSON.h:
