build2/engine/eval/eval.o: engine/eval/eval.c engine/eval/eval.h \
 engine/eval/forward.h engine/backend/cuda/cuda.h engine/base/dtype.h \
 engine/base/qt.h engine/model/model.h engine/quant/quant.h \
 engine/quant/scheme.h engine/base/hmap.h engine/model/safetensors.h \
 engine/model/tokenizer.h
engine/eval/eval.h:
engine/eval/forward.h:
engine/backend/cuda/cuda.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/model/model.h:
engine/quant/quant.h:
engine/quant/scheme.h:
engine/base/hmap.h:
engine/model/safetensors.h:
engine/model/tokenizer.h:
