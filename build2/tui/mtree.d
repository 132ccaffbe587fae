build2/tui/mtree.o: tui/mtree.c tui/mtree.h tui/source.h \
 engine/model/model.h engine/base/dtype.h engine/base/qt.h \
 engine/recipe/recipe.h engine/model/match.h engine/quant/scheme.h \
 engine/base/yamltree.h
tui/mtree.h:
tui/source.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/recipe/recipe.h:
engine/model/match.h:
engine/quant/scheme.h:
engine/base/yamltree.h:
