build2/engine/model/model.o: engine/model/model.c engine/model/model.h \
 engine/base/dtype.h engine/base/qt.h /usr/include/cjson/cJSON.h \
 engine/model/arch.h engine/model/gguf.h engine/quant/ggml_quants.h \
 engine/model/ct_read.h engine/base/hmap.h engine/model/safetensors.h
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
/usr/include/cjson/cJSON.h:
engine/model/arch.h:
engine/model/gguf.h:
engine/quant/ggml_quants.h:
engine/model/ct_read.h:
engine/base/hmap.h:
engine/model/safetensors.h:
