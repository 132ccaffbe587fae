build2/engine/model/gguf.o: engine/model/gguf.c engine/model/gguf.h \
 engine/base/qt.h /usr/include/cjson/cJSON.h engine/model/arch.h \
 engine/model/model.h engine/base/dtype.h engine/quant/ggml_quants.h
engine/model/gguf.h:
engine/base/qt.h:
/usr/include/cjson/cJSON.h:
engine/model/arch.h:
engine/model/model.h:
engine/base/dtype.h:
engine/quant/ggml_quants.h:
