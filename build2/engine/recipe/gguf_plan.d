build2/engine/recipe/gguf_plan.o: engine/recipe/gguf_plan.c \
 engine/recipe/gguf_plan.h engine/base/qt.h engine/base/yamltree.h \
 engine/model/model.h engine/base/dtype.h engine/model/gguf.h \
 engine/quant/ggml_quants.h
engine/recipe/gguf_plan.h:
engine/base/qt.h:
engine/base/yamltree.h:
engine/model/model.h:
engine/base/dtype.h:
engine/model/gguf.h:
engine/quant/ggml_quants.h:
