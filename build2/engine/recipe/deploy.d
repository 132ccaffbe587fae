build2/engine/recipe/deploy.o: engine/recipe/deploy.c \
 engine/recipe/deploy.h engine/model/model.h engine/base/dtype.h \
 engine/base/qt.h engine/recipe/recipe.h engine/model/match.h \
 engine/quant/scheme.h engine/base/yamltree.h engine/quant/quant.h
engine/recipe/deploy.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/recipe/recipe.h:
engine/model/match.h:
engine/quant/scheme.h:
engine/base/yamltree.h:
engine/quant/quant.h:
