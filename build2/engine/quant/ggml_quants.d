build2/engine/quant/ggml_quants.o: engine/quant/ggml_quants.c \
 engine/quant/ggml_quants.h engine/base/dtype.h
engine/quant/ggml_quants.h:
engine/base/dtype.h:
