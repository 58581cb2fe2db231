#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# scripts/media/notes2mid.pl NOTES OUT.mid: a Standard MIDI File (format 1,
# one track per part) from a note list in the format that
# scripts/media/happy-birthday.notes describes. Prints "TEMPO VOICE END"
# (beats per minute, the voice's beat, the end's beat) on stdout for
# gen-media.sh to line the music up with the template. Run by `make
# media`, never per name.
use strict;
use warnings;

die "usage: notes2mid.pl NOTES OUT.mid\n" unless @ARGV == 2;
my ($in, $out) = @ARGV;
my $PPQ = 480;
my ($tempo, $voice, $end);
my (%part, @order, %ev);

# A note name (C4 = 60, sharps and flats) or a plain MIDI number.
sub pitch {
	my ($s, $where) = @_;
	return $s if $s =~ /^\d+$/ && $s < 128;
	my %base = (C => 0, D => 2, E => 4, F => 5, G => 7, A => 9, B => 11);
	$s =~ /^([A-G])(#|b)?(-?\d)$/ or die "$where: bad note '$s'\n";
	my $p = $base{$1} + ($2 ? ($2 eq '#' ? 1 : -1) : 0) + 12 * ($3 + 1);
	die "$where: note '$s' out of range\n" if $p < 0 || $p > 127;
	return $p;
}

sub num {
	my ($s, $where) = @_;
	$s =~ /^\d+(\.\d+)?$/ or die "$where: '$s' is not a number\n";
	return $s;
}

# note PART BEAT LEN PITCH VEL: one note into the part's events (in ticks).
sub note {
	my ($p, $beat, $len, $pitch, $vel, $where) = @_;
	die "$where: unknown part '$p'\n" unless $part{$p};
	die "$where: velocity $vel out of 1-127\n" unless $vel =~ /^\d+$/ && $vel >= 1 && $vel <= 127;
	my ($on, $off) = (int($beat * $PPQ + 0.5), int(($beat + $len) * $PPQ + 0.5));
	push @{ $ev{$p} }, [$on, 1, $pitch, $vel], [$off, 0, $pitch, 0];
}

open(my $fh, '<:encoding(UTF-8)', $in) or die "$in: $!\n";
my @doubles;
while (my $line = <$fh>) {
	my $where = "$in:$.";
	$line =~ s/#.*//;
	my @f = split ' ', $line;
	next unless @f;
	my $op = shift @f;
	if ($op eq 'tempo') { $tempo = num($f[0], $where) }
	elsif ($op eq 'voice') { $voice = num($f[0], $where) }
	elsif ($op eq 'end') { $end = num($f[0], $where) }
	elsif ($op eq 'part') {
		die "$where: part ID CHANNEL PROGRAM VOLUME PAN REVERB\n" unless @f == 6;
		my ($id, @v) = @f;
		for (@v) { die "$where: '$_' is not 0-127\n" unless /^\d+$/ && $_ < 128 }
		die "$where: channel $v[0] out of 0-15\n" if $v[0] > 15;
		$part{$id} = [@v];
		push @order, $id;
		$ev{$id} = [];
	} elsif ($op eq 'n') {
		die "$where: n PART BEAT LEN NOTE VEL\n" unless @f == 5;
		note($f[0], num($f[1], $where), num($f[2], $where), pitch($f[3], $where), $f[4], $where);
	} elsif ($op eq 'chord') {
		die "$where: chord PART BEAT LEN NOTE... VEL\n" unless @f >= 5;
		my ($p, $b, $l, @n) = @f;
		my $vel = pop @n;
		note($p, num($b, $where), num($l, $where), pitch($_, $where), $vel, $where) for @n;
	} elsif ($op eq 'waltz') {
		die "$where: waltz BEAT BARS ROOT CHORD VEL\n" unless @f == 5;
		my ($b, $bars, $root, $chord, $vel) = @f;
		num($b, $where);
		for my $i (0 .. num($bars, $where) - 1) {
			my $t = $b + 3 * $i;
			note('bass', $t, 1, pitch($root, $where), $vel + 10 > 127 ? 127 : $vel + 10, $where);
			for my $k (1, 2) {
				note('pizz', $t + $k, 0.5, pitch($_, $where), $vel, $where) for split /-/, $chord;
			}
		}
	} elsif ($op eq 'double') {
		die "$where: double FROM TO SEMITONES VEL%\n" unless @f == 4;
		push @doubles, [@f, $where];
	} else {
		die "$where: unknown line '$op'\n";
	}
}
close $fh;
die "$in: tempo, voice and end are required\n" unless $tempo && defined $voice && $end;
for (@doubles) {
	my ($from, $to, $semi, $pct, $where) = @$_;
	die "$where: unknown part\n" unless $part{$from} && $part{$to};
	for my $e (grep { $_->[1] } @{ $ev{$from} }) {
		my $off = (grep { !$_->[1] && $_->[2] == $e->[2] && $_->[0] > $e->[0] } @{ $ev{$from} })[0];
		my $v = int($e->[3] * $pct / 100 + 0.5) || 1;
		push @{ $ev{$to} }, [$e->[0], 1, $e->[2] + $semi, $v], [$off->[0], 0, $e->[2] + $semi, 0];
	}
}

# Variable-length quantity, as MIDI writes delta times.
sub vlq {
	my $n = shift;
	my @b = ($n & 0x7f);
	while ($n >>= 7) { unshift @b, 0x80 | ($n & 0x7f) }
	return pack 'C*', @b;
}

sub chunk { return 'MTrk' . pack('N', length $_[0]) . $_[0] }

my $us = int(60_000_000 / $tempo + 0.5);
my @tracks = (chunk(vlq(0) . "\xff\x51\x03" . substr(pack('N', $us), 1)
	. vlq(0) . "\xff\x58\x04\x03\x02\x18\x08" . vlq(int($end * $PPQ)) . "\xff\x2f\x00"));
for my $id (@order) {
	my ($ch, $prog, $vol, $pan, $rev) = @{ $part{$id} };
	my $t = vlq(0) . pack('CC', 0xc0 | $ch, $prog);
	$t .= vlq(0) . pack('CCC', 0xb0 | $ch, $_->[0], $_->[1]) for [7, $vol], [10, $pan], [91, $rev], [93, 0];
	my $now = 0;
	# Note-offs before note-ons at the same tick: a repeated note restarts.
	for my $e (sort { $a->[0] <=> $b->[0] || $a->[1] <=> $b->[1] } @{ $ev{$id} }) {
		$t .= vlq($e->[0] - $now) . pack('CCC', ($e->[1] ? 0x90 : 0x80) | $ch, $e->[2], $e->[3]);
		$now = $e->[0];
	}
	my $last = int($end * $PPQ);
	$t .= vlq($last > $now ? $last - $now : 0) . "\xff\x2f\x00";
	push @tracks, chunk($t);
}
open(my $o, '>:raw', $out) or die "$out: $!\n";
print $o 'MThd', pack('Nnnn', 6, 1, scalar @tracks, $PPQ), @tracks;
close $o or die "$out: $!\n";
print "$tempo $voice $end\n";
