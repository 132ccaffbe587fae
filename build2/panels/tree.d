build2/panels/tree.o: panels/tree.c tui/app.h tui/keys.h tui/layout.h \
 tui/screen.h tui/mtree.h tui/source.h engine/model/model.h \
 engine/base/dtype.h engine/base/qt.h engine/recipe/recipe.h \
 engine/model/match.h engine/quant/scheme.h engine/base/yamltree.h \
 tui/widgets.h
tui/app.h:
tui/keys.h:
tui/layout.h:
tui/screen.h:
tui/mtree.h:
tui/source.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/recipe/recipe.h:
engine/model/match.h:
engine/quant/scheme.h:
engine/base/yamltree.h:
tui/widgets.h:
