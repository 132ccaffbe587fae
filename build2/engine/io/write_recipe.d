build2/engine/io/write_recipe.o: engine/io/write_recipe.c \
 engine/recipe/recipe.h engine/model/match.h engine/model/model.h \
 engine/base/dtype.h engine/base/qt.h engine/quant/scheme.h \
 engine/base/yamltree.h engine/io/writer.h
engine/recipe/recipe.h:
engine/model/match.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/quant/scheme.h:
engine/base/yamltree.h:
engine/io/writer.h:
