build2/engine/recipe/recipe.o: engine/recipe/recipe.c \
 engine/recipe/recipe.h engine/model/match.h engine/model/model.h \
 engine/base/dtype.h engine/base/qt.h engine/quant/scheme.h \
 engine/base/yamltree.h
engine/recipe/recipe.h:
engine/model/match.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/quant/scheme.h:
engine/base/yamltree.h:
