build2/tui/mtree.o: tui/mtree.c tui/mtree.h engine/recipe/tree.h \
 engine/base/qt.h engine/model/model.h engine/base/dtype.h tui/source.h
tui/mtree.h:
engine/recipe/tree.h:
engine/base/qt.h:
engine/model/model.h:
engine/base/dtype.h:
tui/source.h:
