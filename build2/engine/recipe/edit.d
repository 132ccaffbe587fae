build2/engine/recipe/edit.o: engine/recipe/edit.c engine/recipe/edit.h \
 engine/recipe/recipe.h engine/model/match.h engine/model/model.h \
 engine/base/dtype.h engine/base/qt.h engine/quant/scheme.h \
 engine/base/yamltree.h engine/recipe/tree.h
engine/recipe/edit.h:
engine/recipe/recipe.h:
engine/model/match.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/quant/scheme.h:
engine/base/yamltree.h:
engine/recipe/tree.h:
