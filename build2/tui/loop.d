build2/tui/loop.o: tui/loop.c tui/loop.h engine/base/qt.h tui/source.h \
 engine/model/model.h engine/base/dtype.h tui/app.h tui/keys.h \
 tui/layout.h tui/screen.h tui/mtree.h engine/recipe/tree.h tui/widgets.h
tui/loop.h:
engine/base/qt.h:
tui/source.h:
engine/model/model.h:
engine/base/dtype.h:
tui/app.h:
tui/keys.h:
tui/layout.h:
tui/screen.h:
tui/mtree.h:
engine/recipe/tree.h:
tui/widgets.h:
