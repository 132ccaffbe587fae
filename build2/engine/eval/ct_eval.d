build2/engine/eval/ct_eval.o: engine/eval/ct_eval.c engine/eval/ct_eval.h \
 engine/eval/forward.h engine/backend/cuda/cuda.h engine/base/dtype.h \
 engine/base/qt.h engine/model/model.h engine/quant/quant.h \
 engine/quant/scheme.h engine/model/ct_read.h engine/model/arch.h
engine/eval/ct_eval.h:
engine/eval/forward.h:
engine/backend/cuda/cuda.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/model/model.h:
engine/quant/quant.h:
engine/quant/scheme.h:
engine/model/ct_read.h:
engine/model/arch.h:
