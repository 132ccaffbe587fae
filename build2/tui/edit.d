build2/tui/edit.o: tui/edit.c tui/edit.h tui/mtree.h tui/source.h \
 engine/model/model.h engine/base/dtype.h engine/base/qt.h \
 engine/recipe/recipe.h engine/model/match.h engine/quant/scheme.h \
 engine/base/yamltree.h
tui/edit.h:
tui/mtree.h:
tui/source.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/recipe/recipe.h:
engine/model/match.h:
engine/quant/scheme.h:
engine/base/yamltree.h:
