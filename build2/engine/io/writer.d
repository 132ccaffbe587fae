build2/engine/io/writer.o: engine/io/writer.c engine/io/writer.h \
 engine/model/model.h engine/base/dtype.h engine/base/qt.h \
 /usr/include/cjson/cJSON.h engine/backend/select.h engine/quant/quant.h \
 engine/quant/scheme.h engine/quant/pack.h engine/model/safetensors.h
engine/io/writer.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
/usr/include/cjson/cJSON.h:
engine/backend/select.h:
engine/quant/quant.h:
engine/quant/scheme.h:
engine/quant/pack.h:
engine/model/safetensors.h:
