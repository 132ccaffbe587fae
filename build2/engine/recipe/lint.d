build2/engine/recipe/lint.o: engine/recipe/lint.c engine/recipe/lint.h \
 engine/model/model.h engine/base/dtype.h engine/base/qt.h \
 engine/recipe/recipe.h engine/model/match.h engine/quant/scheme.h \
 engine/base/yamltree.h
engine/recipe/lint.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/recipe/recipe.h:
engine/model/match.h:
engine/quant/scheme.h:
engine/base/yamltree.h:
