build2/engine/recipe/tree.o: engine/recipe/tree.c engine/recipe/tree.h \
 engine/base/qt.h engine/model/model.h engine/base/dtype.h \
 engine/model/match.h engine/recipe/recipe.h engine/quant/scheme.h \
 engine/base/yamltree.h
engine/recipe/tree.h:
engine/base/qt.h:
engine/model/model.h:
engine/base/dtype.h:
engine/model/match.h:
engine/recipe/recipe.h:
engine/quant/scheme.h:
engine/base/yamltree.h:
