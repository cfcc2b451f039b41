#!/usr/bin/perl

# The terminal-state cache, measured:
#
# - how many finished media-job answers (about 3 KB of XML each) a 10 MB
#   ci_jobs_cache_zone holds;
# - cache HIT throughput next to nginx's "return 200" of the same body, in
#   the same run, one worker, with wrk.
#
#   perl bench/cache.pl [seconds per wrk run, default 5]

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use CiJobsTest;

my $seconds = shift // 5;

# --- capacity ---------------------------------------------------------------

my $t = CiJobsTest->new(http => <<'EOF');
    ci_jobs_cache_zone ci_jobs:10m;

    server {
        listen 127.0.0.1:%%PORT%%;
        add_header X-Cache $ci_jobs_cache_status always;

        location /ci/ {
            ci_jobs on;
            %%CREDENTIALS%%
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            ci_jobs_cache ci_jobs;
        }
    }
EOF

my $n = 6000;
my $bytes = 0;

for my $i (1 .. $n) {
    my $r = $t->get("/ci/jobs/genSuccess$i");
    die "genSuccess$i: $r->{status}\n" unless $r->{status} == 200;
    $bytes += length $r->{body};
}

my $held = 0;
for (my $i = $n; $i >= 1; $i--) {
    last unless ($t->get("/ci/jobs/genSuccess$i")->{headers}{'x-cache'} // '')
                eq 'HIT';
    $held++;
}

printf "10 MB zone: %d answers of %.0f bytes held (%.0f bytes of zone "
       . "each)\n", $held, $bytes / $n, 10 * 1024 * 1024 / $held;

$t->stop_all;

# --- HIT throughput against return 200 ---------------------------------------

$t = CiJobsTest->new(http => <<'EOF');
    ci_jobs_cache_zone ci_jobs:10m;
    access_log off;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /ci/ {
            ci_jobs on;
            %%CREDENTIALS%%
            ci_jobs_pass http://127.0.0.1:%%EMU_plain%%;
            ci_jobs_cache ci_jobs;
        }
    }
EOF

my $body = $t->get('/ci/jobs/j8d121820f5e411ec926ef19d53ba9c6f')->{body};
my $hit = $t->get('/ci/jobs/j8d121820f5e411ec926ef19d53ba9c6f');
die "no cache hit\n" unless $hit->{body} eq $body;

(my $quoted = $body) =~ s/(["\\\$])/\\$1/g;

open my $fh, '>', $t->dir . '/static.conf' or die;
print $fh "location = /static { default_type application/xml; "
        . "return 200 \"$quoted\"; }\n";
close $fh;

$t->stop_nginx;
$t->{http} =~ s{(location /ci/)}{include static.conf;\n        $1};
$t->start_nginx;

$t->get('/ci/jobs/j8d121820f5e411ec926ef19d53ba9c6f');
die "return 200 differs\n" unless $t->get('/static')->{body} eq $body;

sub wrk {
    my ($path, $conns) = @_;
    my $out = `wrk -t1 -c$conns -d${seconds}s http://127.0.0.1:@{[ $t->port ]}$path 2>&1`;
    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/;
    my ($non2xx) = $out =~ /Non-2xx or 3xx responses: (\d+)/;
    die "errors in $path: $out" if $non2xx;
    return $rps // 0;
}

printf "%-6s %14s %14s %7s\n", 'conns', 'return 200', 'cache HIT', 'ratio';
for my $conns (1, 16, 64) {
    my $static = wrk('/static', $conns);
    my $cached = wrk('/ci/jobs/j8d121820f5e411ec926ef19d53ba9c6f', $conns);
    printf "%-6d %12.0f/s %12.0f/s %7.2f\n", $conns, $static, $cached,
           $cached / $static;
}

printf "answer: %d bytes of XML, worker_processes 1, wrk -t1, %ds a run\n",
       length $body, $seconds;

$t->stop_all;
