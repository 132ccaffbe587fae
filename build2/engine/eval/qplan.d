build2/engine/eval/qplan.o: engine/eval/qplan.c engine/eval/qplan.h \
 engine/eval/forward.h engine/backend/cuda/cuda.h engine/base/dtype.h \
 engine/base/qt.h engine/model/model.h engine/quant/quant.h \
 engine/quant/scheme.h engine/backend/select.h engine/recipe/recipe.h \
 engine/model/match.h engine/base/yamltree.h
engine/eval/qplan.h:
engine/eval/forward.h:
engine/backend/cuda/cuda.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/model/model.h:
engine/quant/quant.h:
engine/quant/scheme.h:
engine/backend/select.h:
engine/recipe/recipe.h:
engine/model/match.h:
engine/base/yamltree.h:
