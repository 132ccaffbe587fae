build2/engine/io/gguf_write.o: engine/io/gguf_write.c \
 engine/io/gguf_write.h engine/base/qt.h engine/io/writer.h \
 engine/model/model.h engine/base/dtype.h engine/recipe/gguf_plan.h \
 engine/base/yamltree.h /usr/include/cjson/cJSON.h engine/model/gguf.h \
 engine/quant/ggml_quants.h
engine/io/gguf_write.h:
engine/base/qt.h:
engine/io/writer.h:
engine/model/model.h:
engine/base/dtype.h:
engine/recipe/gguf_plan.h:
engine/base/yamltree.h:
/usr/include/cjson/cJSON.h:
engine/model/gguf.h:
engine/quant/ggml_quants.h:
