build2/engine/eval/sensitivity.o: engine/eval/sensitivity.c \
 engine/eval/sensitivity.h engine/eval/eval.h engine/eval/forward.h \
 engine/backend/cuda/cuda.h engine/base/dtype.h engine/base/qt.h \
 engine/model/model.h engine/quant/quant.h engine/quant/scheme.h \
 engine/eval/qplan.h
engine/eval/sensitivity.h:
engine/eval/eval.h:
engine/eval/forward.h:
engine/backend/cuda/cuda.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/model/model.h:
engine/quant/quant.h:
engine/quant/scheme.h:
engine/eval/qplan.h:
