#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# scripts/render.d/fontwidths.pl FONT: the advance widths of a TrueType or
# OpenType font's characters, as a plain data file that render.sh reads
# (never sources: the cache holding it is shared by renders, and render
# scripts only read data from it) to measure a name before drawing it
# (render.d/name.sh, layout). Run once per cache entry
# (render.d/static.sh), not per name.
#
# Prints two lines of decimal numbers: "UPEM MAX" (units per em, and the
# widest advance in the font: what a character outside the table is taken
# for, so that a measure never comes out too narrow), then "CP:ADV ..."
# (code point: advance in font units) for the scripts names are written
# in: Latin, Greek, Cyrillic, their extensions and the punctuation a name
# may hold. Kerning is left out: it only ever narrows a line.
use strict;
use warnings;

die "usage: fontwidths.pl FONT\n" unless @ARGV == 1;
open(my $fh, "<:raw", $ARGV[0]) or die "$ARGV[0]: $!\n";
my $font = do { local $/; <$fh> };
close $fh;

sub u16 { return unpack "n", substr($font, $_[0], 2) }
sub u32 { return unpack "N", substr($font, $_[0], 4) }
sub s16 { return unpack "s>", substr($font, $_[0], 2) }

die "$ARGV[0]: not a font\n" if length($font) < 12;
my %table;
my $ntables = u16(4);
for my $i (0 .. $ntables - 1) {
	my $rec = 12 + 16 * $i;
	die "$ARGV[0]: truncated\n" if $rec + 16 > length $font;
	$table{ substr($font, $rec, 4) } = u32($rec + 8);
}
for (qw(head hhea hmtx cmap)) { die "$ARGV[0]: no $_ table\n" unless defined $table{$_} }

my $upem = u16($table{head} + 18);
my $nmetrics = u16($table{hhea} + 34);
die "$ARGV[0]: bad metrics\n" unless $upem > 0 && $nmetrics > 0;
my @adv = map { u16($table{hmtx} + 4 * $_) } 0 .. $nmetrics - 1;
my $max = 0;
for (@adv) { $max = $_ if $_ > $max }

# The glyph of every code point we want, from the best Unicode cmap:
# format 12 (3/10, 0/4) or format 4 (3/1, 0/3).
my (%glyph, $best, $bestfmt);
my $cmap = $table{cmap};
for my $i (0 .. u16($cmap + 2) - 1) {
	my ($pid, $eid) = (u16($cmap + 4 + 8 * $i), u16($cmap + 6 + 8 * $i));
	my $off = $cmap + u32($cmap + 8 + 8 * $i);
	my $fmt = u16($off);
	next unless ($pid == 3 && ($eid == 1 || $eid == 10)) || $pid == 0;
	next unless $fmt == 4 || $fmt == 12;
	($best, $bestfmt) = ($off, $fmt) if !defined $best || ($fmt == 12 && $bestfmt == 4);
}
die "$ARGV[0]: no Unicode cmap\n" unless defined $best;

my @want = (0x20 .. 0x24f, 0x300 .. 0x36f, 0x370 .. 0x3ff, 0x400 .. 0x52f,
	0x1e00 .. 0x1eff, 0x2010 .. 0x2019);
if ($bestfmt == 4) {
	my $segs = u16($best + 6) / 2;
	my $ends = $best + 14;
	my $starts = $ends + 2 * $segs + 2;
	my $deltas = $starts + 2 * $segs;
	my $ranges = $deltas + 2 * $segs;
	for my $cp (@want) {
		for my $s (0 .. $segs - 1) {
			next if u16($ends + 2 * $s) < $cp;
			last if u16($starts + 2 * $s) > $cp;
			my ($d, $r) = (u16($deltas + 2 * $s), u16($ranges + 2 * $s));
			my $g;
			if ($r == 0) { $g = ($cp + $d) & 0xffff }
			else {
				my $at = $ranges + 2 * $s + $r + 2 * ($cp - u16($starts + 2 * $s));
				$g = u16($at);
				$g = ($g + $d) & 0xffff if $g;
			}
			$glyph{$cp} = $g if $g;
			last;
		}
	}
} else {
	my $n = u32($best + 12);
	my %w = map { $_ => 1 } @want;
	for my $i (0 .. $n - 1) {
		my ($lo, $hi, $g) = map { u32($best + 16 + 12 * $i + 4 * $_) } 0 .. 2;
		for my $cp (grep { $_ >= $lo && $_ <= $hi } @want) { $glyph{$cp} = $g + $cp - $lo }
	}
}

print "$upem $max\n";
print join(" ", map {
	my $g = $glyph{$_};
	sprintf "%d:%d", $_, $adv[ $g < $nmetrics ? $g : $nmetrics - 1 ]
} sort { $a <=> $b } keys %glyph), "\n";
