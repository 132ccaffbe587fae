build2/panels/jobs.o: panels/jobs.c tui/app.h tui/keys.h tui/layout.h \
 tui/screen.h tui/mtree.h engine/recipe/tree.h engine/base/qt.h \
 engine/model/model.h engine/base/dtype.h tui/source.h tui/widgets.h
tui/app.h:
tui/keys.h:
tui/layout.h:
tui/screen.h:
tui/mtree.h:
engine/recipe/tree.h:
engine/base/qt.h:
engine/model/model.h:
engine/base/dtype.h:
tui/source.h:
tui/widgets.h:
